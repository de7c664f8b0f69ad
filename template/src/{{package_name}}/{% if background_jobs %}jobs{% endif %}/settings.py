"""The settings of the background jobs (documented in `.env.example`)."""

from pydantic import Field

from {{ package_name }}.core.config import FeatureSettings


class JobSettings(FeatureSettings):
    """How jobs are run, retried and kept, and where webhooks may be delivered."""

    #: Seconds a webhook receiver has to answer, connection included.
    WEBHOOK_TIMEOUT: float = Field(default=5.0, gt=0, le=60)
    #: Deliver to loopback, private and other non-public addresses: off, because of SSRF. Turn
    #: it on only where every receiver is trusted (a closed network, the tests).
    WEBHOOK_ALLOW_PRIVATE_TARGETS: bool = False
    #: Attempts of one delivery before it is held as failed (`pgq failed` lists them).
    WEBHOOK_MAX_ATTEMPTS: int = Field(default=8, ge=1, le=50)
    #: The first retry's delay in seconds; each next one doubles, up to the maximum.
    WEBHOOK_RETRY_INITIAL_SECONDS: float = Field(default=2.0, gt=0)
    WEBHOOK_RETRY_MAX_SECONDS: float = Field(default=900.0, gt=0)
    #: Days that finished job records and failed jobs are kept before the cleanup purges them.
    JOB_RETENTION_DAYS: int = Field(default=14, ge=1)
    #: Seconds without a heartbeat after which a job of a dead worker runs again elsewhere.
    JOB_HEARTBEAT_TIMEOUT: float = Field(default=30.0, ge=2)
