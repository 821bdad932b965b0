"""Tissue CT numbers at 120 kVp and the attenuation scale that turns them into line integrals.

The values are typical adult CT numbers at 120 kVp as tabulated in the CT physics literature
(W. A. Kalender, *Computed Tomography*, 3rd ed., 2011, Fig. 1.4 and ch. 2; J. T. Bushberg et al.,
*The Essential Physics of Medical Imaging*, 3rd ed., 2012, Table 10-1) and, for lung and emphysema,
the densitometry literature behind LAA-950 (Gevenois et al., AJRCCM 1996: healthy inflated parenchyma
about -850 to -870 HU; emphysematous tissue below -950 HU). They are the ground-truth (GT) values of the
phantom: a map from tissue to HU with no noise, blur or artefact, as in the paper's GT.

``hu_at_kvp`` gives the CT numbers another tube voltage would show (an effective-energy approximation; the
error it leaves is stated there). Attenuation is monoenergetic at the 120 kVp effective energy (about 70 keV): the water coefficient is
NIST XCOM's mass attenuation of water at 70 keV (0.1929 cm^2/g) times 1 g/cm^3. There is no beam
hardening, so a CT number maps linearly to attenuation: mu = mu_water * (1 + HU / 1000).
"""
from __future__ import annotations

MU_WATER_PER_MM = 0.01929  # 1/mm, water at 70 keV (NIST XCOM)

# name: CT number (HU) at 120 kVp
HU = {
    "air": -1000.0,
    "lung": -860.0,          # healthy inflated parenchyma (mean; texture is added around it)
    "emphysema": -975.0,     # destroyed parenchyma (below the -950 HU LAA threshold)
    "bulla": -995.0,         # air-filled bulla
    "fat": -100.0,
    "glandular": 25.0,       # fibroglandular breast tissue
    "muscle": 50.0,
    "skin": 40.0,
    "blood": 40.0,           # unenhanced blood: heart chambers, aorta, pulmonary vessels
    "myocardium": 45.0,
    "airway_wall": 50.0,
    "cortical_bone": 1000.0,
    "cancellous_bone": 250.0,
    "marrow_rib": 200.0,
    "spinal_cord": 30.0,
    "nodule_solid": 35.0,
    "nodule_ggo": -550.0,    # ground-glass component of a part-solid nodule
    "table_shell": 150.0,    # carbon-fibre skin of the patient table
    "table_core": -900.0,    # foam core of the patient table
    "water": 0.0,
}


# Tube voltage, as an effective-energy approximation. A tissue's CT number at another kVp is a water-bone or
# water-fat mixture's: HU above 0 scale with bone's (mu_bone/mu_water - 1) and HU below 0 down to fat's
# with fat's, relative to their 120 kVp values (effective energies 50, 57, 70 and 75 keV for 80, 100, 120
# and 140 kVp; NIST XCOM water, ICRU-44 cortical bone and adipose tissue). Air (-1000) and water (0) stay.
# Cortical bone at 1000 HU (120 kVp) reads about 1630 HU at 80 kVp and 840 HU at 140 kVp; fat (-100) reads
# about -120 and -95. Stated error: no spectrum, so no beam hardening (cupping, streaks between bones): a
# polychromatic scanner's bone HU differ from these by roughly 5-10 %, and its soft tissue near bone by a
# few HU to tens of HU in streaks (the external XCIST set has them).
KVP_BONE_SCALE = {80.0: 1.63, 100.0: 1.22, 120.0: 1.0, 140.0: 0.84}
KVP_FAT_SCALE = {80.0: 1.20, 100.0: 1.08, 120.0: 1.0, 140.0: 0.95}
FAT_HU = -100.0


def hu_at_kvp(hu, kvp: float):
    """CT numbers at 120 kVp seen at ``kvp`` (80-140, interpolated between the tabulated voltages): positive
    HU scaled as bone's, HU between fat and water as fat's, below fat blended to air's fixed -1000."""
    import numpy as np

    volts = sorted(KVP_BONE_SCALE)
    if not volts[0] <= kvp <= volts[-1]:
        raise ValueError(f"kVp {kvp} outside {volts[0]:g}-{volts[-1]:g}")
    bone = float(np.interp(kvp, volts, [KVP_BONE_SCALE[v] for v in volts]))
    fat = float(np.interp(kvp, volts, [KVP_FAT_SCALE[v] for v in volts]))
    hu = np.asarray(hu, dtype=np.float64)
    below_fat = FAT_HU * fat + (hu - FAT_HU) * (-1000.0 - FAT_HU * fat) / (-1000.0 - FAT_HU)
    return np.where(hu >= 0, hu * bone, np.where(hu >= FAT_HU, hu * fat, below_fat))


def hu_to_mu(hu):
    """Linear attenuation (1/mm) from CT number: ``mu = mu_w * (1 + HU/1000)`` (works on arrays and tensors)."""
    return MU_WATER_PER_MM * (1.0 + hu / 1000.0)


def mu_to_hu(mu):
    """CT number from linear attenuation (1/mm)."""
    return 1000.0 * (mu / MU_WATER_PER_MM - 1.0)
