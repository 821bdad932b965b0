# Two entry points on a fresh machine: `make run` and `make test`. Both create and reuse .venv here.
PY := .venv/bin/python
PIP := .venv/bin/pip
INPUT ?= sample_study
OUTPUT ?= output
export PYTHONPATH := $(CURDIR)

.PHONY: venv lint system-deps pacs-deps external-deps external-set sample run test test-slow test-pacs test-ray test-container model clean
RECIPE ?= training/recipes/harmonizer_v11.yaml

.venv/.installed: requirements.txt requirements-dev.txt
	python3 -m venv .venv
	$(PIP) install --quiet --upgrade "pip==26.0.1"
	$(PIP) install --quiet -r requirements.txt -r requirements-dev.txt
	touch $@

venv: .venv/.installed

# DICOM validators used by the tests (Debian packages).
system-deps:
	@command -v dciodvfy >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq dicom3tools dcmtk >/dev/null; }

sample_study/.complete: | venv
	$(PY) -m simulation study --out sample_study --seed 7 --slices 16 --dose 1.3 --kernel Br64f
	touch $@

sample: sample_study/.complete

# The main job: harmonize every eligible series of INPUT into OUTPUT/<derived SeriesInstanceUID>/.
run: venv sample
	ulimit -s 32768 2>/dev/null; $(PY) -m app -i $(INPUT) -o $(OUTPUT) $(if $(MODEL),-m $(MODEL),)
	@echo "derived series and report.json/report.png are in $(OUTPUT)/"

test: venv system-deps lint
	$(PY) -m pytest -q -m "not slow and not pacs and not container and not ray"

# ruff over the tree, mypy over the app, its operators, physics, common and cohort (pyproject.toml)
lint: venv
	$(PY) -m ruff check .
	$(PY) -m mypy

test-slow: venv system-deps
	$(PY) -m pytest -q -m slow

# The cohort runner on a local Ray cluster of two workers (a worker killed mid-study included); opt-in.
test-ray: venv
	$(PY) -m pytest -q -m ray

# A real PACS on loopback (Debian's Orthanc with its DICOMweb plugin); opt-in.
pacs-deps:
	@command -v Orthanc >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq orthanc orthanc-dicomweb >/dev/null; }

test-pacs: venv system-deps pacs-deps
	$(PY) -m pytest -q -m pacs

# Build the MAP image offline (debootstrap base, wheelhouse) and run it with no network; opt-in, needs root.
test-container: venv system-deps
	$(PY) -m pytest -q -m container

# XCIST (gecatsim 1.6.9), the independent simulator of the external validation set. Its source release
# ships its C build script with CRLF line ends, which bash cannot run: fetched, fixed and built here.
GECATSIM := gecatsim==1.6.9
.venv/.gecatsim: | venv
	rm -rf .venv/gecatsim-src && mkdir -p .venv/gecatsim-src
	$(PIP) download --quiet --no-deps --no-binary :all: "$(GECATSIM)" -d .venv/gecatsim-src
	tar -xzf .venv/gecatsim-src/gecatsim-*.tar.gz -C .venv/gecatsim-src
	sed -i 's/\r$$//' .venv/gecatsim-src/gecatsim-*/gecatsim/clib_build/BuildLinux64 .venv/gecatsim-src/gecatsim-*/gecatsim/clib_build/Makefile
	$(PIP) install --quiet --no-build-isolation .venv/gecatsim-src/gecatsim-*/
	touch $@

external-deps: .venv/.gecatsim

model: venv
	$(PY) -m training recipe $(RECIPE)

# The external validation set: 4 phantoms x 2 doses x 6 kernels rendered by XCIST, each 1 mm slice the mean of
# four 0.25 mm sections: the reference discs first (25 minutes), then one phantom per core at a time (30 minutes
# each, and 7 more for its middle slice without noise); a rerun continues with what is unfinished.
external-set: external-deps
	$(PY) -m evaluation external-set --out data/external --phantoms 4 --slices 2 --seed 9000 --jobs $$(nproc)

clean:
	rm -rf output sample_study
