"""Scanner geometry of the virtual CT: a Siemens SOMATOM Force-like system, rebinned to parallel rays.

The Force measures fan-beam projections (source-isocentre 595 mm, source-detector 1085.6 mm, 920 channels
over a 50 cm scan field, 0.6 mm collimated rows) and, like every current Siemens scanner, rebins them to
parallel rays before filtered back-projection. This simulator works directly in that rebinned, parallel
geometry, one axial slice at a time (no cone angle: each simulated slice is its own 2-D scan):

* 576 parallel views over 180 degrees (1152 fan views per rotation, the conjugate halves combined),
* rays every 0.488 mm at isocentre over the 500 mm field (1024 rays; the Force's flying focal spot
  interleaves its 0.565 mm channels to a finer effective sampling),
* a detector aperture of 0.565 mm (one channel, 1.03 mm at the detector, demagnified by 595/1085.6) and a
  focal-spot blur of 0.45 mm at isocentre (a 1.0 mm spot times (1085.6-595)/1085.6): both are applied to
  the *intensity*, before the logarithm, as a real detector does.

The phantom is rasterised at twice the image resolution (1024 x 1024 over 500 mm) so the projector does
not see the ground-truth grid it is compared with. ``recon_fov_mm`` reconstructs a smaller field on the same
512 matrix (a targeted reconstruction: 250-500 mm, pixels 0.49-0.98 mm) from the same projections.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ScannerGeometry:
    fov_mm: float = 500.0
    image_size: int = 512            # reconstructed matrix
    oversample: int = 2              # phantom grid = image grid * oversample
    n_views: int = 576               # parallel views over 180 degrees
    n_rays: int = 1024               # rays per view
    aperture_mm: float = 0.565       # detector channel width at isocentre
    focal_spot_mm: float = 0.45      # focal-spot blur width at isocentre
    source_iso_mm: float = 595.0
    source_detector_mm: float = 1085.6
    slice_thickness_mm: float = 1.0
    kvp: float = 120.0
    recon_fov_mm: float | None = None  # reconstruction (display) field; None: the whole scan field, fov_mm

    @property
    def recon_field_mm(self) -> float:
        """The reconstructed field's width: ``recon_fov_mm``, or the scan field."""
        return self.recon_fov_mm or self.fov_mm

    @property
    def pixel_mm(self) -> float:
        """The reconstructed image's pixel: the reconstruction field over the matrix."""
        return self.recon_field_mm / self.image_size

    @property
    def grid_pixel_mm(self) -> float:
        """The scan field over the matrix (0.977 mm): the grid the phantom's texture is drawn on, whatever the
        reconstruction field."""
        return self.fov_mm / self.image_size

    @property
    def object_size(self) -> int:
        return self.image_size * self.oversample

    @property
    def object_pixel_mm(self) -> float:
        return self.fov_mm / self.object_size

    @property
    def ray_spacing_mm(self) -> float:
        return self.fov_mm / self.n_rays

    def angles(self) -> np.ndarray:
        return np.arange(self.n_views) * np.pi / self.n_views

    def ray_positions_mm(self) -> np.ndarray:
        return (np.arange(self.n_rays) - (self.n_rays - 1) / 2.0) * self.ray_spacing_mm

    def pixel_centres_mm(self, n: int | None = None) -> np.ndarray:
        """Pixel centres along one axis (mm, isocentre at 0), for an ``n``-pixel grid over the scan field."""
        n = self.image_size if n is None else n
        step = self.fov_mm / n
        return -self.fov_mm / 2.0 + (np.arange(n) + 0.5) * step

    def recon_centres_mm(self) -> np.ndarray:
        """Pixel centres along one axis of the reconstructed image (mm, isocentre at 0)."""
        return -self.recon_field_mm / 2.0 + (np.arange(self.image_size) + 0.5) * self.pixel_mm


FORCE = ScannerGeometry()
