class ReadOnlyAdminMixin:
    """A record of what happened: nobody adds, edits or deletes it, superusers
    included; who may read it is the view permission's business."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
