# Two commands do all the setup on a fresh machine:
#   make run   -> creates .venv, installs, opens the GUI on a bundled demo project
#   make test  -> creates .venv, installs, runs ruff and the whole test suite offscreen
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
DEMO   := demo_project

.PHONY: run test install lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# torch first, pinned, so nothing later can pull another build.
$(STAMP): $(PY) setup.cfg constraints.txt
	$(PIP) install --quiet -c constraints.txt torch==2.14.1 torchvision==0.29.1
	$(PIP) install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The platform check names (and, as root or with sudo on Debian/Ubuntu, installs) the X11 libraries Qt's
# xcb plugin needs, so a fresh desktop gets a message instead of a Qt abort.
run: $(STAMP)
	$(PY) -m embryograde_app.platform_check --install
	$(PY) main.py gui --demo $(DEMO)

lint: $(STAMP)
	$(PY) -m ruff check .

test: $(STAMP)
	$(PY) -m ruff check .
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -p no:cacheprovider --timeout=300

# The budget benchmarks of ARCHITECTURE.md section 8, each a ratio against a baseline measured in the same run
# (the GUI one needs a display: xvfb-run -a make bench on a headless machine).
bench: $(STAMP)
	$(PY) -m bench.bench_inference
	$(PY) -m bench.bench_retrain
	$(PY) -m bench.bench_grade
	$(PY) -m bench.bench_synth
	$(PY) -m bench.bench_gui

clean:
	rm -rf $(VENV) build *.egg-info
