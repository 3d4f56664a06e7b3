from .context import acting_as
from .models import ActivityEvent


class ChangeContextMiddleware:
    """Attributes the changes a request makes to its user, from the admin."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # request.user stays lazy: requests that change nothing never load it.
        with acting_as(
            request.user,
            source=ActivityEvent.Source.ADMIN,
            # Named by the admin view that writes ("Changed doctor “…”"), or
            # else after what it did (context.ChangeContext.close).
            description="",
        ):
            return self.get_response(request)
