# Set-up and entry points. `make demo` runs the main job, `make test` the test suite;
# both create the virtual environment and install what is missing first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EXTRAS ?= dev,hw,synth,rl,nn,discover
DEMO_OUT ?= demo_out

.PHONY: setup sysdeps test demo lint clean

setup: $(VENV)/.installed

# Torch first: 2.13.0 resolves to the local CPU wheel; a machine that already has torch
# (GPU machines) keeps its own build through --system-site-packages.
$(VENV)/.installed: pyproject.toml
	@if $(PYTHON) -c "import torch" 2>/dev/null; then \
	    $(PYTHON) -m venv --system-site-packages $(VENV); \
	else \
	    $(PYTHON) -m venv $(VENV) && $(PY) -m pip install -q torch==2.13.0; \
	fi
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	touch $@

# System packages, only when missing: Icarus Verilog for the cocotb benches, and the
# PostgreSQL server for the shared-database tests of activation discovery.
APT = $$(command -v sudo >/dev/null 2>&1 && [ "$$(id -u)" != 0 ] && echo sudo) env DEBIAN_FRONTEND=noninteractive apt-get
sysdeps:
	@missing=""; \
	command -v iverilog >/dev/null 2>&1 || missing="$$missing iverilog"; \
	{ command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } \
	    || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    $(APT) update -qq && $(APT) install -y -qq $$missing; \
	fi

test: setup sysdeps
	$(PY) -m pytest -q

demo: setup sysdeps
	bash scripts/demo.sh $(PY) $(DEMO_OUT)

lint: setup
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache sim_build
