def school(request):
    """The current school and the user's roles there, for the layout's navigation."""
    access = getattr(request, "access", None)
    return {
        "school": getattr(request, "school", None),
        "access": access,
        "roles": access.roles if access else frozenset(),
    }
