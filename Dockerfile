# CT Harmonizer as a MONAI Application Package (MAP) image, Holoscan app-package layout:
#   /opt/holoscan/app (code), /opt/holoscan/models, /var/holoscan/{input,output}, /etc/holoscan/{app,pkg}.json
#
# Online, on a GPU node:   docker build -t ct-harmonizer .
# Offline (air-gapped):    pip download -r requirements.txt -d wheelhouse   (on a machine with the same Python)
#                          docker build --build-arg BASE_IMAGE=<local base> --build-arg OFFLINE=1 -t ct-harmonizer .
# The base must provide python3 (3.11 for the pinned wheels) and pip; a CUDA-capable PyTorch runtime by default.
ARG BASE_IMAGE=pytorch/pytorch:2.13.0-cuda12.8-cudnn9-runtime

# ---- build stage: install the pinned requirements (from the wheelhouse when OFFLINE=1) and lay out the app
FROM ${BASE_IMAGE} AS build
# the stage's own image is left behind untagged; the label lets tests/container_build.sh remove it
LABEL org.ct-harmonizer.stage=build
ARG OFFLINE=0
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
COPY . /src/
RUN python3 -m venv /opt/holoscan/venv \
 && if [ "$OFFLINE" = "1" ]; then \
      /opt/holoscan/venv/bin/pip install --no-cache-dir --no-index --find-links /src/wheelhouse -r /src/requirements.txt; \
    else \
      /opt/holoscan/venv/bin/pip install --no-cache-dir --upgrade "pip>25.1" \
      && /opt/holoscan/venv/bin/pip install --no-cache-dir -r /src/requirements.txt; \
    fi \
 && mkdir -p /opt/holoscan/app/docker /opt/holoscan/docs /layout/etc/holoscan /layout/var/holoscan/input \
        /layout/var/holoscan/output /layout/var/holoscan/logs \
 && cp -r /src/app /src/common /src/operators /src/physics /opt/holoscan/app/ \
 && cp /src/docker/entrypoint.sh /opt/holoscan/app/docker/ \
 && mkdir -p /opt/holoscan/models && cp /src/models/DEFAULT /opt/holoscan/models/ \
 && cp -r "/src/models/$(tr -d '[:space:]' < /src/models/DEFAULT)" /opt/holoscan/models/ \
 && cp /src/requirements.txt /opt/holoscan/ \
 && cp /src/README.md /opt/holoscan/docs/ \
 && cp /src/app.yaml /layout/var/holoscan/ \
 && cp /src/docker/app.json /src/docker/pkg.json /layout/etc/holoscan/

# ---- the MAP image: few filesystem layers (drivers without overlays, like vfs, copy the image per layer)
FROM ${BASE_IMAGE}
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
    VIRTUAL_ENV=/opt/holoscan/venv \
    PATH=/opt/holoscan/venv/bin:$PATH \
    LD_LIBRARY_PATH=/opt/holoscan/venv/lib/python3.11/site-packages/nvidia/cu13/lib
# (holoscan-cu13 links the CUDA 13 runtime even on CPU; the nvidia-cuda-runtime wheel in requirements.txt
#  brings libcudart.so.13 where no CUDA toolkit is installed)
COPY --from=build /opt/holoscan /opt/holoscan
COPY --from=build /layout/ /
# holoscan's wheel-axle package finishes installing itself at its first import, writing into site-packages:
# do it here as root, so the non-root user never needs to
RUN python3 -c "import holoscan.core" \
 && useradd --create-home --uid 1000 holoscan \
 && chown -R holoscan /var/holoscan
USER holoscan
WORKDIR /var/holoscan
ENTRYPOINT ["/opt/holoscan/app/docker/entrypoint.sh"]
