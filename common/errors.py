"""The one exception the app turns into a single line and a non-zero exit."""


class InputError(Exception):
    """Input the app cannot or must not process; the message is one line meant for the user."""
