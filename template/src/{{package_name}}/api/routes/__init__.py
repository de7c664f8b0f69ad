"""Route modules: one `APIRouter` per resource."""
