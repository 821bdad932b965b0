"""Parallel-beam projector and filtered back-projector, computed in the Fourier domain with FINUFFT.

Conventions: an image is ``(C, N, N)``, rows along +y (patient posterior), columns along +x (patient
left), covering the field [-FOV/2, FOV/2]^2 with pixel centres at half-pixel offsets (DICOM/LPS axial
convention). View ``v`` has angle ``theta_v = v pi / V``; ray ``j`` is the line
``x cos(theta) + y sin(theta) = t_j`` with ``t_j = (j - (R-1)/2) dt``. Channels ``C`` carry independent
slices or renditions.

Forward projection uses the projection-slice theorem exactly: the 2-D Fourier transform of the
pixelated object (square pixels, each of uniform attenuation) is evaluated on the polar grid
``rho (cos, sin)`` by a type-2 non-uniform FFT, times the pixel's own transform sinc(rho_x d) sinc(rho_y d),
and a 1-D inverse FFT along each view returns the line integrals, band-limited to the ray sampling's
Nyquist frequency (ideal anti-aliased sampling). Back-projection is the adjoint: each filtered projection's
spectrum on the same polar grid is summed onto the image by a type-1 non-uniform FFT, i.e. back-projection
with band-limited (sinc) interpolation between rays. Both are exact to ``EPS`` and cost a few hundred ms a
slice on two cores, where a ray-sampling projector on the 1024^2 object took over 10 s.
"""
from __future__ import annotations

from functools import lru_cache

import finufft
import numpy as np

from .geometry import FORCE, ScannerGeometry

EPS = 1e-6


def pad_length(n_rays: int) -> int:
    """Length of the zero-padded ray axis: >= 2 R so projections of the whole square field never wrap."""
    return int(2 ** np.ceil(np.log2(2 * n_rays)))


@lru_cache(maxsize=4)
def polar_grid(geom: ScannerGeometry = FORCE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centred frequencies rho_k (cycles/mm, length P) and the polar points (rho_x, rho_y), each (V, P)."""
    p, dt = pad_length(geom.n_rays), geom.ray_spacing_mm
    rho = (np.arange(p) - p // 2) / (p * dt)
    th = geom.angles()
    return rho, rho[None, :] * np.cos(th)[:, None], rho[None, :] * np.sin(th)[:, None]


def forward_project(mu: np.ndarray, geom: ScannerGeometry = FORCE) -> np.ndarray:
    """Line integrals (dimensionless) of attenuation ``mu`` (1/mm) on an ``N x N`` grid: ``(C,N,N)->(C,V,R)``."""
    mu = np.ascontiguousarray(mu, dtype=np.float64)
    c, n, _ = mu.shape
    d = geom.fov_mm / n
    rho, rx, ry = polar_grid(geom)
    p = len(rho)
    spec = finufft.nufft2d2(2 * np.pi * ry.ravel() * d, 2 * np.pi * rx.ravel() * d, mu.astype(np.complex128),
                            eps=EPS, isign=-1)
    # pixel centres sit at (k + 1/2) d; each pixel is a uniform square
    spec = spec * (d * d) * np.exp(-1j * np.pi * d * (rx + ry).ravel()) * np.sinc(rx * d).ravel() * np.sinc(ry * d).ravel()
    spec = spec.reshape(c, geom.n_views, p) * np.exp(1j * np.pi * (np.arange(p) - p // 2) / p)
    drho = rho[1] - rho[0]
    proj = np.fft.fftshift(np.fft.ifft(np.fft.ifftshift(spec, axes=-1), axis=-1), axes=-1) * (p * drho)
    lo = p // 2 - geom.n_rays // 2
    return np.ascontiguousarray(proj[..., lo:lo + geom.n_rays].real)


def projection_spectra(q: np.ndarray, geom: ScannerGeometry = FORCE) -> np.ndarray:
    """Fourier transform of each projection ``(C, V, R)`` on the centred grid rho_k: ``(C, V, P)``."""
    p = pad_length(geom.n_rays)
    c, v, r = q.shape
    padded = np.zeros((c, v, p))
    lo = p // 2 - r // 2
    padded[..., lo:lo + r] = q
    spec = np.fft.fftshift(np.fft.fft(np.fft.ifftshift(padded, axes=-1), axis=-1), axes=-1)
    return spec * np.exp(-1j * np.pi * (np.arange(p) - p // 2) / p) * geom.ray_spacing_mm


def back_project_spectra(spec: np.ndarray, geom: ScannerGeometry = FORCE, size: int | None = None) -> np.ndarray:
    """``sum_v q_v(x cos + y sin) * pi / V`` from projection spectra ``(C, V, P)``; images ``(C, n, n)`` over
    the reconstruction field (``geom.recon_field_mm``; with ``size``, an ``size``-pixel grid over the scan field)."""
    n = geom.image_size if size is None else size
    d = geom.pixel_mm if size is None else geom.fov_mm / n
    rho, rx, ry = polar_grid(geom)
    c = spec.shape[0]
    weights = spec.reshape(c, -1) * np.exp(1j * np.pi * d * (rx + ry).ravel())
    img = finufft.nufft2d1(2 * np.pi * ry.ravel() * d, 2 * np.pi * rx.ravel() * d,
                           np.ascontiguousarray(weights, dtype=np.complex128), (n, n), eps=EPS, isign=1)
    return img.real * ((rho[1] - rho[0]) * np.pi / geom.n_views)
