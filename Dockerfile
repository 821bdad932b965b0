# CT Harmonizer as a MONAI Application Package (MAP) image, Holoscan app-package layout:
#   /opt/holoscan/app (code), /opt/holoscan/models, /var/holoscan/{input,output}, /etc/holoscan/{app,pkg}.json
#
# Online, on a GPU node:   docker build -t ct-harmonizer .
# Offline (air-gapped):    pip download -r requirements.txt -d wheelhouse   (on a machine with the same Python)
#                          docker build --build-arg BASE_IMAGE=<local base> --build-arg OFFLINE=1 -t ct-harmonizer .
# The base must provide python3 (3.11 for the pinned wheels) and pip; a CUDA-capable PyTorch runtime by default.
ARG BASE_IMAGE=pytorch/pytorch:2.13.0-cuda12.8-cudnn9-runtime
FROM ${BASE_IMAGE}

ARG OFFLINE=0
ENV HOLOSCAN_APPLICATION=/opt/holoscan/app \
    HOLOSCAN_INPUT_PATH=/var/holoscan/input \
    HOLOSCAN_OUTPUT_PATH=/var/holoscan/output \
    HOLOSCAN_WORKDIR=/var/holoscan \
    HOLOSCAN_MODEL_PATH=/opt/holoscan/models \
    HOLOSCAN_CONFIG_PATH=/var/holoscan/app.yaml \
    HOLOSCAN_APP_MANIFEST_PATH=/etc/holoscan/app.json \
    HOLOSCAN_PKG_MANIFEST_PATH=/etc/holoscan/pkg.json \
    HOLOSCAN_DOCS_PATH=/opt/holoscan/docs \
    HOLOSCAN_LOGS_PATH=/var/holoscan/logs \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/holoscan/venv \
    PATH=/opt/holoscan/venv/bin:$PATH \
    LD_LIBRARY_PATH=/opt/holoscan/venv/lib/python3.11/site-packages/nvidia/cu13/lib
# (holoscan-cu13 links the CUDA 13 runtime even on CPU; the nvidia-cuda-runtime wheel in requirements.txt
#  brings libcudart.so.13 where no CUDA toolkit is installed)

# dependencies first (cached layer); offline builds install only from the wheelhouse in the build context
# (the wildcard lets the build run without a wheelhouse/ folder; requirements.txt always matches)
COPY requirements.txt wheelhouse* /opt/holoscan/wheelhouse/
RUN python3 -m venv /opt/holoscan/venv \
 && if [ "$OFFLINE" = "1" ]; then \
      pip install --no-cache-dir --no-index --find-links /opt/holoscan/wheelhouse \
          -r /opt/holoscan/wheelhouse/requirements.txt; \
    else \
      pip install --no-cache-dir --upgrade "pip>25.1" \
      && pip install --no-cache-dir -r /opt/holoscan/wheelhouse/requirements.txt; \
    fi \
 && cp /opt/holoscan/wheelhouse/requirements.txt /opt/holoscan/requirements.txt \
 && rm -rf /opt/holoscan/wheelhouse
# holoscan's wheel-axle package finishes installing itself at its first import, writing into site-packages:
# do that now, as root, so the non-root user never needs to
RUN python3 -c "import holoscan.core"

# the app (what it imports at run time: app, operators, physics), its models and manifests
COPY app /opt/holoscan/app/app
COPY operators /opt/holoscan/app/operators
COPY physics /opt/holoscan/app/physics
COPY docker/entrypoint.sh /opt/holoscan/app/docker/entrypoint.sh
COPY models /opt/holoscan/models
COPY app.yaml /var/holoscan/app.yaml
COPY docker/app.json docker/pkg.json /etc/holoscan/
COPY README.md /opt/holoscan/docs/README.md

RUN useradd --create-home --uid 1000 holoscan \
 && mkdir -p /var/holoscan/input /var/holoscan/output /var/holoscan/logs \
 && chown -R holoscan /var/holoscan
USER holoscan
WORKDIR /var/holoscan
ENTRYPOINT ["/opt/holoscan/app/docker/entrypoint.sh"]
