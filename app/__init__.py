"""CT Harmonizer: the MONAI Deploy application (``app.app.CTHarmonizerApp``) and its command line."""
