"""CT Harmonizer's virtual imaging platform: procedural chest phantoms, a Force-like CT acquisition with
quantum noise calibrated to CTDIvol, FBP with 16 named kernels and iterative reconstruction, DICOM output.
A companion package: the application never imports it."""
