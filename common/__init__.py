"""What the app and its companions (simulator, training, evaluation) share and neither owns: all-or-nothing
folders, the user-facing input error, hashed DICOM UIDs and the stored CT range."""
