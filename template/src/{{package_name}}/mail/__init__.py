"""E-mail: the messages the service sends (`messages`) and where they go (`senders`)."""
