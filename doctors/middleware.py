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
            description=f"{request.method} {request.path}"[:255],
        ):
            return self.get_response(request)
