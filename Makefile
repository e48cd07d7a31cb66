# The two commands of the README:
#   make book   set up .venv (once) and build the executed HTML book into _build/html
#   make test   set up .venv (once), build the book (the execution test) and run the whole test suite
# Re-running either is fast: the environment is reinstalled only when a requirements file changes, and
# chapters are re-executed only when their code, or the library they import, changed.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LIBSTAMP := _build/.hts_lib-hash
BOOK_FLAGS := -W -n --keep-going
PYTEST_FLAGS ?= -q -m "not slow"
export OMP_NUM_THREADS ?= 1
export PYTHONHASHSEED := 0
# Strict answer checks in the book build: a solution whose check(...) fails stops the build with the
# check's report (hts_lib.book.checks). Only for the book: tests and graders run the checks leniently.
book: export HTS_STRICT_CHECKS := 1

.PHONY: env libcache book test test-fast browser clean student benchmarks help
.PHONY: pdf pdf-student pdf-tools
help:
	@echo "make book | make test | make test-fast | make student | make benchmarks | make clean"
	@echo "make pdf | make pdf-student   (PDF editions through XeLaTeX, after make book)"

$(STAMP): requirements.txt requirements-test.txt pyproject.toml
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if v >= (3, 11) else "Python >= 3.11 is required, found %d.%d" % v)'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -U pip
	$(BIN)/python -m pip install -q -r requirements-test.txt
	$(BIN)/python -m pip check
	touch $(STAMP)

env: $(STAMP)

# The execution cache hashes code cells only: a change in hts_lib must invalidate it. The library's content hash
# is kept beside the cache, so a cache restored for the same library (as the publishing workflow does) is reused.
LIBHASH = $(shell cat $$(find hts_lib -name '*.py' | LC_ALL=C sort) | sha256sum | cut -c1-16)
libcache:
	@mkdir -p _build
	@if [ "$$(cat $(LIBSTAMP) 2>/dev/null)" != "$(LIBHASH)" ]; then \
		rm -rf _build/.jupyter_cache; echo "$(LIBHASH)" > $(LIBSTAMP); \
		echo "hts_lib changed: the execution cache was cleared"; fi

book: $(STAMP) libcache
	$(BIN)/jupyter-book build . $(BOOK_FLAGS)

# The browser tests need Debian's chromium. As root it is installed here; otherwise this says what to install.
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	else echo "error: the browser tests need Debian's chromium (/usr/bin/chromium)." >&2; \
	     echo "Install it as root with: apt-get install chromium   (then re-run make test)" >&2; exit 1; fi

test: $(STAMP) browser book
	@$(BIN)/pytest $(PYTEST_FLAGS) tests hts_lib; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "no tests ran: failing" >&2; exit 1; fi; exit $$rc

# Library and notebook tests only (no book build, no browser): for quick iterations.
test-fast: $(STAMP)
	$(BIN)/pytest $(PYTEST_FLAGS) --ignore=tests/test_site.py tests hts_lib

student: $(STAMP)
	$(BIN)/python -m hts_lib.book.student --out student --build

benchmarks: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

# PDF editions through XeLaTeX: _build/latex/heavy-tail-sgd.pdf (with solutions) and heavy-tail-sgd-student.pdf
# (the student edition). Each keeps its own Sphinx environment (_build/pdf, _build/pdf-student), so the PDF and HTML
# builds never invalidate each other, and reuses the HTML build's execution cache: after `make book` nothing is
# executed again. pdf/config.py adds the PDF-only extension (pdf/pdf_edition.py: browser-only outputs get a static
# frame or a note; the appendix is lettered) to a copy of the book's configuration.
PDF_NAME := heavy-tail-sgd
PDF_DEBS := texlive-xetex texlive-latex-extra texlive-fonts-recommended latexmk fonts-freefont-otf fonts-dejavu-core \
	fontconfig poppler-utils
PDF_BUILD = $(BIN)/python pdf/config.py $(1)/_config.yml $(2)/_config.yml --cache _build/.jupyter_cache && \
	$(BIN)/jupyter-book build $(1) --builder pdflatex --config $(2)/_config.yml --path-output $(2) $(BOOK_FLAGS) && \
	mkdir -p _build/latex && cp $(2)/_build/latex/$(PDF_NAME).pdf _build/latex/$(3)

pdf-tools:
	@ok=1; for t in xelatex latexmk pdftotext pdfinfo pdffonts pdfimages pdftoppm fc-list; do \
		command -v $$t >/dev/null 2>&1 || ok=0; done; \
	kpsewhich fncychap.sty ucharclasses.sty polyglossia.sty unicode-math.sty >/dev/null 2>&1 || ok=0; \
	for f in FreeSerif.otf DejaVuSansMono.ttf; do fc-list : file 2>/dev/null | grep -q "/$$f" || ok=0; done; \
	if [ $$ok = 1 ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then echo "installing the PDF toolchain: $(PDF_DEBS)"; \
	     apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	     $(PDF_DEBS) >/dev/null; \
	else echo "error: make pdf needs XeLaTeX, latexmk, the FreeFont and DejaVu fonts and poppler's tools." >&2; \
	     echo "Install them as root with: apt-get install --no-install-recommends $(PDF_DEBS)" >&2; \
	     echo "(then re-run make pdf)" >&2; exit 1; fi

pdf: export HTS_STRICT_CHECKS := 1
pdf: pdf-tools $(STAMP) libcache
	$(call PDF_BUILD,.,_build/pdf,$(PDF_NAME).pdf)
	@if [ -d _build/html ]; then cp _build/latex/$(PDF_NAME).pdf _build/html/; fi
	@echo "PDF edition: _build/latex/$(PDF_NAME).pdf, $$(pdfinfo _build/latex/$(PDF_NAME).pdf | awk '/^Pages:/ {print $$2}') pages"

# The student edition's sources are generated under _build (student/ is left to `make student`); its notebooks
# differ from the book's where solution code was removed, so those chapters are executed once, into the same cache.
pdf-student: pdf-tools $(STAMP) libcache
	$(BIN)/python -m hts_lib.book.student --out _build/pdf-student/src
	$(call PDF_BUILD,_build/pdf-student/src/book,_build/pdf-student,$(PDF_NAME)-student.pdf)
	@echo "Student PDF: _build/latex/$(PDF_NAME)-student.pdf, $$(pdfinfo _build/latex/$(PDF_NAME)-student.pdf | awk '/^Pages:/ {print $$2}') pages"

clean:
	rm -rf _build student

# Shipped results of chapter 13 (predicted against measured tail indices near a verified minimum):
# results/linearised/<network>.json and the MNIST minimum. The teacher-student grid runs on CPU cores;
# the 118k-parameter net wants a GPU (LINEARISED_DEVICE=cpu works, slowly).
LINEARISED_DEVICE ?= cuda
.PHONY: linearised-results
linearised-results: $(STAMP)
	$(BIN)/python results/linearised/reproduce.py --network teacher_student --device cpu --batch-sizes 1
	$(BIN)/python results/linearised/reproduce.py --network teacher_student --device cpu --batch-sizes 4
	$(BIN)/python results/linearised/reproduce.py --network teacher_student --device cpu --batch-sizes 1 \
		--etas 0.066 0.1045 --suffix _extra_a --seed 71
	$(BIN)/python results/linearised/reproduce.py --network teacher_student --device cpu --batch-sizes 1 \
		--etas 0.1065 0.108 --suffix _extra_b --seed 71
	$(BIN)/python results/linearised/reproduce.py --network teacher_student --device cpu --batch-sizes 4 \
		--etas 0.165 0.325 --suffix _extra_c --seed 74
	OMP_NUM_THREADS=1 $(BIN)/python results/linearised/reproduce.py --network digits_mlp --device cpu --deadline 2400
	OMP_NUM_THREADS=1 $(BIN)/python results/linearised/reproduce.py --network digits_mlp --device cpu \
		--batch-sizes 1 --etas 0.07 0.085 0.119 --suffix _extra --seed 50
	$(BIN)/python results/linearised/reproduce.py --network mnist_fc --device $(LINEARISED_DEVICE)
	$(BIN)/python results/linearised/reproduce.py --network mnist_fc_softplus --device cpu \
		--save-minimum $${TMPDIR:-/tmp}/mnist_fc_softplus_minimum.pt

# Shipped multi-seed grids of Part III (chapters 10-12): every run through the ensemble trainer, one result file
# per run with the source hash of the code that made it (tests/test_results.py fails when that code changes
# without a re-run). Delete a folder first to remake it: existing valid files are kept.
.PHONY: results
results: $(STAMP)
	OMP_NUM_THREADS=2 $(BIN)/python -m hts_lib.nn.ensemble --grid paper-fc-seeds --out results/fc_mnist_seeds --threads 2
	OMP_NUM_THREADS=2 $(BIN)/python -m hts_lib.nn.ensemble --grid paper-fc-gd --out results/fc_mnist_gd --threads 2
	OMP_NUM_THREADS=2 $(BIN)/python -m hts_lib.nn.ensemble --grid lenet-seeds --out results/lenet_mnist_seeds --threads 2
