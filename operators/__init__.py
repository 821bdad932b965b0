"""The application's operators (one per ``*_operator.py``, each a thin wrapper) and the plain functions
under them (the other modules), which are tested on their own."""
