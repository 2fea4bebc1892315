# Two commands for a newcomer: `make run` (dashboard) and `make test` (test suite).
PYTHON ?= python3
PORT ?= 8501
# Only this machine can reach the dashboard unless ADDRESS says otherwise (README: serving to others).
ADDRESS ?= 127.0.0.1
# Uploads over 1 MiB are spooled by the web server to a temporary file: keep them in memory (tmpfs).
UPLOAD_TMP ?= $(firstword $(wildcard /dev/shm) $(TMPDIR) /tmp)

.PHONY: run test test-all test-e2e e2e-browser deps lint bench samples brain-cv evaluate-brain evaluate-fetal evaluate-nerve nerve-empty-study weights weights-fetal weights-nerve weights-face weights-screening weights-brain weights-modality evaluate screenshots help

help:
	@echo "make run      install what is missing, start the dashboard on http://localhost:$(PORT)"
	@echo "make test     install what is missing, run the default (fast) tests"
	@echo "make test-all also run the slow tests"
	@echo "make test-e2e the real-browser suite (installs playwright and, with apt, chromium)"
	@echo "make bench    latency / memory benchmark (ratios against smp Unet(resnet34))"
	@echo "make samples  rewrite data_samples/ (real HC18 frames from ../shared/data/hc18, phantoms for the rest)"
	@echo "make weights  retrain every shipped model (2-core CPU: about 7.5 hours; weights-fetal, weights-nerve, weights-face, weights-screening, weights-brain, weights-modality)"
	@echo "make screenshots  refresh dashboard/screenshots (needs playwright + chromium)"
	@echo "make evaluate score the shipped weights on held-out real data (HC18 exams, nerve subjects, LGG patients), record in the cards"
	@echo "make nerve-empty-study  which proxy empty frames teach the nerve models (about 1 h on 2 cores)"
	@echo "make bench    also: python -m train.bench --record stores the timings in the cards"

# pip is quick when everything is already satisfied, and installs only what is missing.
deps:
	@$(PYTHON) -m pip install --disable-pip-version-check -q -r requirements.txt -r .ci/requirements-test.txt

run: deps
	TMPDIR=$(UPLOAD_TMP) $(PYTHON) -m dashboard.serve --server.port $(PORT) --server.address $(ADDRESS)

# test: the default selection (pyproject.toml: -m 'not slow'); test-all: every test (README: timings).
test: deps
	$(PYTHON) -m pytest

test-all: deps
	$(PYTHON) -m pytest -m "not e2e"

# The real-browser suite: Playwright (pip) driving the system's Chromium (Debian: apt-get install
# chromium, done here when apt is available and Chromium is missing) against streamlit run.
# e2e-browser fails when Chromium is still missing afterwards (.ci/run then says the suite was skipped).
e2e-browser:
	@command -v chromium >/dev/null || ! command -v apt-get >/dev/null || timeout 600 apt-get install -y -q \
	  chromium >/dev/null 2>&1 || (timeout 300 apt-get update -q >/dev/null 2>&1 && timeout 600 apt-get \
	  install -y -q chromium >/dev/null 2>&1) || true
	@command -v chromium >/dev/null
	@$(PYTHON) -m pip install --disable-pip-version-check -q "playwright>=1.40"

test-e2e: deps e2e-browser
	$(PYTHON) -m pytest -m e2e tests/e2e

lint:
	$(PYTHON) -m ruff check core train dashboard tests streamlit_app.py

bench: deps
	$(PYTHON) -m train.bench --json runs/bench.json
	$(PYTHON) -m dashboard.bench_pages --json runs/bench_pages.json
	$(PYTHON) -m dashboard.bench_pages --served --json runs/bench_pages_served.json
	$(PYTHON) -m dashboard.bench_pages --tour --json runs/bench_tour.json

samples:
	$(PYTHON) -m train.make_samples
	$(PYTHON) -m train.gallery_index

weights: weights-fetal weights-nerve weights-face weights-screening weights-brain weights-modality

NERVE ?= ../shared/data/nerve/positives
NERVE_TRAIN = $(PYTHON) -m train.segmentation --task nerve --data $(NERVE) --transplant-empty --batch-size 16 --crop 160 224 --input-size 160 224 --val-frac 0.2 --threads 1

# The commands recorded in the shipped nerve cards, on a 2-core CPU (about 2 h): the four models on
# the real Kaggle frames of 34 subjects (6 held out), each frame also seen with its nerve covered
# (an empty frame) and with a control transplant; the U-Net beside the other three in turn.
weights-nerve:
	$(NERVE_TRAIN) --arch unet --arch-config presence_head=true --epochs 13 --time-limit-min 110 --out weights/nerve/unet & \
	( $(NERVE_TRAIN) --arch cnn --arch-config presence_head=true --epochs 6 --time-limit-min 40 --out weights/nerve/cnn && \
	  $(NERVE_TRAIN) --arch unet_vgg --arch-config presence_head=true --epochs 5 --lr 1e-3 --time-limit-min 40 --out weights/nerve/unet_vgg && \
	  $(NERVE_TRAIN) --arch unet_mobilenet --arch-config 'aux_params={"classes":1}' --epochs 5 --time-limit-min 35 --out weights/nerve/unet_mobilenet ); \
	wait
	$(MAKE) evaluate-nerve

# The held-out subjects of the nerve split (seed 0, 20%) with one proxy empty frame per frame, of each
# kind: the nerve covered (the kind the models trained on) and a zoomed window that misses it (unseen).
evaluate-nerve:
	$(PYTHON) -m train.holdout --data $(NERVE) --out runs/nerve_val --val-frac 0.2 --transplant-empty
	$(PYTHON) -m train.holdout --data $(NERVE) --out runs/nerve_val_crop --val-frac 0.2 --crop-empty
	for a in unet unet_mobilenet unet_vgg cnn; do $(PYTHON) -m train.evaluate --task nerve --weights weights/nerve/$$a \
	  --data runs/nerve_val --out runs/val_nerve_$$a --record validation_real && \
	  $(PYTHON) -m train.evaluate --task nerve --weights weights/nerve/$$a \
	  --data runs/nerve_val_crop --out runs/val_nerve_zoomed_$$a --record validation_real_zoomed; done

# Which proxy empty frames to train on (train/empty_study.py; about 1 h on 2 cores): the MobileNetV2
# U-Net trained with none, covered, zoomed or both kinds for the same number of steps (15 x the
# real training frames), the last epoch kept, scored on both kinds.
EMPTY_STUDY = $(PYTHON) -m train.segmentation --task nerve --data $(NERVE) --batch-size 16 --crop 160 224 --input-size 160 224 --val-frac 0.2 --threads 1 --arch unet_mobilenet --arch-config 'aux_params={"classes":1}' --keep last --time-limit-min 45
nerve-empty-study:
	$(EMPTY_STUDY) --crop-empty --epochs 5 --out runs/empty_cmp/crop & \
	$(EMPTY_STUDY) --crop-empty --transplant-empty --epochs 3 --out runs/empty_cmp/both; \
	wait
	$(EMPTY_STUDY) --transplant-empty --epochs 5 --out runs/empty_cmp/transplant & \
	$(EMPTY_STUDY) --epochs 15 --out runs/empty_cmp/none; \
	wait
	$(PYTHON) -m train.holdout --data $(NERVE) --out runs/nerve_val --val-frac 0.2 --transplant-empty
	$(PYTHON) -m train.holdout --data $(NERVE) --out runs/nerve_val_crop --val-frac 0.2 --crop-empty
	for m in none transplant crop both; do for s in nerve_val nerve_val_crop; do \
	  $(PYTHON) -m train.evaluate --task nerve --weights runs/empty_cmp/$$m --data runs/$$s --out runs/empty_cmp/eval_$${m}_$$s; \
	done; done
	$(PYTHON) -m train.empty_study --json runs/empty_cmp/study.json \
	  --model none runs/empty_cmp/eval_none_nerve_val runs/empty_cmp/eval_none_nerve_val_crop \
	  --model covered runs/empty_cmp/eval_transplant_nerve_val runs/empty_cmp/eval_transplant_nerve_val_crop \
	  --model zoomed runs/empty_cmp/eval_crop_nerve_val runs/empty_cmp/eval_crop_nerve_val_crop \
	  --model both runs/empty_cmp/eval_both_nerve_val runs/empty_cmp/eval_both_nerve_val_crop

HC18 ?= ../shared/data/hc18
FETAL_TRAIN = $(PYTHON) -m train.segmentation --task fetal_head --data $(HC18) --batch-size 16 --crop 160 224 --threads 1

# The commands recorded in the shipped fetal cards, two at a time on a 2-core CPU (~2 h 55 min):
# stage 1 trains the U-Net on real HC18 frames from random weights beside the SegNet's phantom
# pretraining; stage 2 fine-tunes both on the real frames with the boundary-weighted loss (each
# run ends by calibrating its outline on its training frames); stage 3 trains the compact U-Net
# (the default, 33 min with 2 threads) from random weights; then the held-out exams score them.
weights-fetal:
	$(FETAL_TRAIN) --arch unet_mobilenet --out runs/hc18_unet --epochs 45 --time-limit-min 62 & \
	$(PYTHON) -m train.segmentation --task fetal_head --arch segnet --out runs/fetal_segnet_phantoms --phantoms 2000 --epochs 35 --batch-size 16 --crop 160 224 --threads 1; \
	wait
	$(FETAL_TRAIN) --arch unet_mobilenet --out weights/fetal_head/unet --init runs/hc18_unet --epochs 35 --lr 1e-3 --boundary-weight 2 --time-limit-min 66 & \
	$(FETAL_TRAIN) --arch segnet --out weights/fetal_head/segnet --init runs/fetal_segnet_phantoms --epochs 30 --lr 3e-3 --boundary-weight 2 --time-limit-min 70; \
	wait
	$(PYTHON) -m train.segmentation --task fetal_head --arch unet --arch-config 'widths=[8,16,32,64,128]' --data $(HC18) --out weights/fetal_head/unet_small --input-size 192 288 --crop 128 192 --epochs 80 --lr 3e-3 --boundary-weight 2 --batch-size 16 --threads 2 --time-limit-min 75
	$(MAKE) evaluate-fetal

# The held-out HC18 exams of the training split (seed 0, 10%), scored as the issue measures them.
evaluate-fetal:
	$(PYTHON) -m train.holdout --data $(HC18) --out runs/hc18_val
	for a in unet_small unet segnet; do $(PYTHON) -m train.evaluate --task fetal_head --weights weights/fetal_head/$$a \
	  --data runs/hc18_val --out runs/val_fetal_$$a --record validation_hc18; done

# README screenshots: needs `pip install playwright` and Chromium (Debian: apt-get install chromium).
screenshots:
	$(PYTHON) -m streamlit run streamlit_app.py --server.port 8599 --server.headless true & pid=$$!; \
	sleep 8; $(PYTHON) dashboard/screenshots/take.py --url http://localhost:8599; status=$$?; kill $$pid; exit $$status

evaluate: evaluate-fetal evaluate-nerve evaluate-brain

LGG ?= ../shared/data/lgg
LGG_TRAIN = $(PYTHON) -m train.segmentation --task brain_tumor --arch unet_mobilenet --data $(LGG) --batch-size 16 --crop 192 192 --val-frac 0.2

# The commands recorded in the shipped brain cards, on a 2-core CPU (about 40-90 min, by the CPU; the
# FLAIR model beside the two 3-sequence networks one after the other) on the 13 training patients, each volume put through the median window, the last epoch kept:
# the 3-sequence model is the mean of two networks trained from the phantom model (its first layer
# starts on the FLAIR input; at a 128x128 input, with another training slice's lesion pasted into half
# the samples), one for 36 epochs and one for 72 (train.ensemble joins them, int8 weights); the FLAIR
# model continues the FLAIR model shipped before it (percentile window) for 36 epochs; then the 3
# held-out patients score them. Both starting points are restored from git below (or retrained).
BRAIN_RECIPE = --window volume_median --init runs/brain_phantoms --input-size 128 128 --crop 96 96 --lesion-paste 0.5 --epochs 36 --lr 2e-3 --boundary-weight 1 --keep last --threads 1 --time-limit-min 75
BRAIN_LONG = --epochs 72 --time-limit-min 150
BRAIN_FLAIR_RECIPE = --window volume_median --init runs/brain_flair_percentile --epochs 36 --lr 1e-3 --boundary-weight 1 --keep last --threads 1 --time-limit-min 75
weights-brain: runs/brain_phantoms runs/brain_flair_percentile
	( $(LGG_TRAIN) $(BRAIN_RECIPE) $(BRAIN_LONG) --arch-config in_channels=3 --out runs/brain_member72 && \
	  $(LGG_TRAIN) $(BRAIN_RECIPE) --arch-config in_channels=3 --out runs/brain_member36 ) & \
	$(LGG_TRAIN) $(BRAIN_FLAIR_RECIPE) --out weights/brain_tumor/unet_flair & wait
	$(PYTHON) -m train.ensemble --members runs/brain_member36 runs/brain_member72 --out weights/brain_tumor/unet
	$(MAKE) evaluate-brain

# The FLAIR model shipped before the median window (sha256 07b633b64ff6...), restored from the commit
# that shipped it, else retrained with its own stages (about 1 h 45 min on 2 cores).
BRAIN_FLAIR_AT = 84acb86:weights/brain_tumor/unet_flair
runs/brain_flair_percentile: runs/brain_phantoms
	mkdir -p $@.part && for f in model.json model.safetensors history.csv; do \
	  git show $(BRAIN_FLAIR_AT)/$$f > $@.part/$$f || exit 1; done && mv $@.part $@ || ( \
	  $(LGG_TRAIN) --window volume_percentile --out runs/lgg_unet --init runs/brain_phantoms --epochs 55 --lr 2e-3 --threads 2 && \
	  $(LGG_TRAIN) --window volume_percentile --out runs/lgg_unet_ft --init runs/lgg_unet --epochs 45 --lr 1e-3 --boundary-weight 1 --threads 2 --time-limit-min 50 && \
	  $(LGG_TRAIN) --window volume_percentile --out $@ --init runs/lgg_unet_ft --epochs 32 --lr 5e-4 --boundary-weight 1 --threads 2 --time-limit-min 30 )
	rm -rf $@.part

# The LGG patients held out of training (split seed 0, 20%), scored per patient as the issue measures.
evaluate-brain:
	$(PYTHON) -m train.holdout --data $(LGG) --seed 0 --val-frac 0.2 --out runs/lgg_val
	for a in unet unet_flair; do $(PYTHON) -m train.evaluate --task brain_tumor --weights weights/brain_tumor/$$a \
	  --data runs/lgg_val --out runs/val_brain_$$a --record validation_lgg; done

# The 4-fold cross-validation recorded in the 3-sequence card (`metrics.recipe_cross_validation`): its
# own recipe on the 12 patients of the other folds (both members: BRAIN_RECIPE, and with BRAIN_LONG),
# each fold's ensemble scored on the 4 patients it never saw with the task's post-processing (the
# largest 3-D piece kept), then pooled (about 2 h on 2 cores). All start from runs/brain_phantoms, the
# phantom model: restored below from the commit that shipped it when git has it (the same bytes,
# sha256 125434348f86...), else trained.
BRAIN_PHANTOMS_AT = 84acb86~1:weights/brain_tumor/unet
runs/brain_phantoms:
	mkdir -p $@.part && for f in model.json model.safetensors history.csv; do \
	  git show $(BRAIN_PHANTOMS_AT)/$$f > $@.part/$$f || exit 1; done && mv $@.part $@ || \
	  $(PYTHON) -m train.segmentation --task brain_tumor --arch unet_mobilenet --out $@ --phantoms 3000 --epochs 14 --batch-size 16 --crop 192 192 --threads 2 --time-limit-min 70
	rm -rf $@.part

# `make brain-cv CV_SEED=1` runs the same recipe again with another deal of the patients into folds
# and another initial draw and augmentation stream, recorded beside it as
# `metrics.recipe_cross_validation_seed1` (outputs runs/*_s1_*): one cross-validation is one draw.
CV_SEED ?= 0
CV_TAG = $(if $(filter-out 0,$(CV_SEED)),_s$(CV_SEED))
CV_SEP = $(if $(CV_TAG),$(CV_TAG)_)
CV_KEY = recipe_cross_validation$(if $(CV_TAG),_seed$(CV_SEED))
CV_AGAIN = the same recipe run again with --seed $(CV_SEED) (another deal of the 16 patients into the 4 folds, another initial draw and augmentation stream)
CV_RECIPE = this model's recipe (the mean of two networks from the phantom-pretrained weights, trained 36 and 72 epochs on the three sequences at a 128x128 input, another training slice's lesion pasted into half the samples (copy-paste), each volume through the median window, the last epoch kept: no epoch chosen on held-out patients) on the other folds' 12 patients, with this card's post-processing (the largest 3-D piece kept)
LGG_CV = $(PYTHON) -m train.segmentation --task brain_tumor --arch unet_mobilenet --data $(LGG) --batch-size 16 --crop 192 192 $(BRAIN_RECIPE) --arch-config in_channels=3 --folds 4 --seed $(CV_SEED)
brain-cv: runs/brain_phantoms
	$(LGG_CV) --fold 0 --out runs/lgg_cv$(CV_TAG)_f0 & $(LGG_CV) --fold 1 --out runs/lgg_cv$(CV_TAG)_f1 & wait
	$(LGG_CV) --fold 2 --out runs/lgg_cv$(CV_TAG)_f2 & $(LGG_CV) --fold 3 --out runs/lgg_cv$(CV_TAG)_f3 & wait
	$(LGG_CV) $(BRAIN_LONG) --fold 0 --out runs/lgg_cv$(CV_TAG)_l0 & $(LGG_CV) $(BRAIN_LONG) --fold 1 --out runs/lgg_cv$(CV_TAG)_l1 & wait
	$(LGG_CV) $(BRAIN_LONG) --fold 2 --out runs/lgg_cv$(CV_TAG)_l2 & $(LGG_CV) $(BRAIN_LONG) --fold 3 --out runs/lgg_cv$(CV_TAG)_l3 & wait
	for k in 0 1 2 3; do $(PYTHON) -m train.holdout --data $(LGG) --folds 4 --fold $$k --seed $(CV_SEED) --out runs/lgg_cv$(CV_SEP)$$k && \
	  $(PYTHON) -m train.ensemble --members runs/lgg_cv$(CV_TAG)_f$$k runs/lgg_cv$(CV_TAG)_l$$k --out runs/lgg_cv$(CV_TAG)_e$$k && \
	  $(PYTHON) -m train.evaluate --task brain_tumor --weights runs/lgg_cv$(CV_TAG)_e$$k --data runs/lgg_cv$(CV_SEP)$$k --out runs/eval_cv$(CV_SEP)$$k; done
	$(PYTHON) -m train.cv_summary --eval $(foreach k,0 1 2 3,runs/eval_cv$(CV_SEP)$(k)) --out runs/brain_cv$(CV_TAG) \
	  --weights weights/brain_tumor/unet --record $(CV_KEY) --recipe "$(if $(CV_TAG),$(CV_AGAIN),$(CV_RECIPE))"

FASSEG ?= ../shared/data/fasseg
weights-face:
	# The commands recorded in the face parser's card: real FASSEG faces, persons held out (seeded);
	# 256 px first, then continued four times at 320 px, the last two with half the samples on
	# procedural clutter (fine textures included) and a per-photo Dice, the last also with an elastic
	# warp on half the samples. The time limits end them (each schedule anneals by then): how many
	# epochs they run depends on the CPU (the third stage: 199 epochs in 75 min on an idle 2-core CPU,
	# the fourth 126 and the fifth 123 in 50 min; the 320 px stage before them ran 23 epochs in 45 min
	# on a shared one). Each card records its --init as weights/face_regions/unet: the stage before
	# it, then shipped.
	$(PYTHON) -m train.face_regions --data $(FASSEG) --out runs/face_parser --threads 2 --time-limit-min 62 --epochs 400
	$(PYTHON) -m train.face_regions --data $(FASSEG) --init runs/face_parser --input-size 320 --lr 1e-3 --out runs/face_parser_320 --threads 2 --time-limit-min 45 --epochs 400 --eval-every 5
	$(PYTHON) -m train.face_regions --data $(FASSEG) --init runs/face_parser_320 --input-size 320 --lr 1e-3 --out runs/face_parser_320b --threads 2 --time-limit-min 75 --epochs 400 --eval-every 10
	$(PYTHON) -m train.face_regions --data $(FASSEG) --init runs/face_parser_320b --input-size 320 --lr 1e-3 --background-mix 0.5 --dice-per-image --seed 1 --out runs/face_parser_p8 --threads 2 --time-limit-min 50 --epochs 400 --eval-every 25
	$(PYTHON) -m train.face_regions --data $(FASSEG) --init runs/face_parser_p8 --input-size 320 --lr 1e-3 --background-mix 0.5 --dice-per-image --elastic 0.5 --seed 2 --out runs/face_parser_p9 --threads 2 --time-limit-min 50 --epochs 400 --eval-every 25
	rm -rf weights/face_regions/unet && cp -r runs/face_parser_p9 weights/face_regions/unet
	$(PYTHON) -m train.parser_backgrounds --weights weights/face_regions/unet --data $(FASSEG) --record

# The uploads' modality check (ultrasound / MRI / other) on the real frames, slices and photos of
# ../shared/data, split by exam, subject, patient and person (about 8 minutes on 2 cores).
SHARED ?= ../shared/data
weights-modality:
	$(PYTHON) -m train.modality --data $(SHARED) --out weights/modality/cnn --epochs 80 --time-limit-min 40

# Real people without any of the drawn conditions, to draw the screening phantoms on: FASSEG's frontal
# faces and its Pointing'04 faces turned up to 30 degrees, plus the two bundled portraits.
IDENTITIES = $(FASSEG)/frontal02/train/RGB $(foreach y,-30 -15 0 +15 +30,$(FASSEG)/multipose01/train/RGB/$(y)) data_samples/face
weights-screening:
	# The commands recorded in the face screening cards. Skin and syndrome-like: synthetic conditions
	# drawn on real people (persons split, 7 held out), scored on phantoms of the held-out people; the
	# out-of-range rule is chosen on those people's untouched photos (1 thread each: two at a time on
	# the 2-core CPU). Autism demo: its forehead stamp drawn on the same people, the whole face and the
	# forehead crop only (where the stamp is), 2 threads (about 8 minutes).
	$(PYTHON) -m train.classifier --phantoms 1200 --screen-task skin --identities $(IDENTITIES) --held-out-persons 7 --folds 1 --epochs 30 --test-phantoms 200 --gallery-out --threads 1 --time-limit-min 40 --widths 24 48 96 --region-widths 24 48 96 --pool lse --region-pool lse --out runs/scr_skin
	$(PYTHON) -m train.classifier --phantoms 1200 --screen-task syndrome --identities $(IDENTITIES) --held-out-persons 7 --folds 1 --epochs 30 --test-phantoms 200 --gallery-out --threads 1 --time-limit-min 40 --widths 24 48 96 --region-widths 24 48 96 --pool lse --region-pool lse --out runs/scr_syndrome
	for t in skin syndrome; do $(PYTHON) -m train.abstain_select --weights runs/scr_$$t --identities $(IDENTITIES) --held-out-persons 7; rm -rf weights/face_screening/$$t; cp -r runs/scr_$$t weights/face_screening/$$t; done
	$(PYTHON) -m train.classifier --phantoms 1200 --screen-task autism --identities $(IDENTITIES) --held-out-persons 7 --folds 1 --epochs 40 --lr 8e-4 --test-phantoms 200 --gallery-out --threads 2 --time-limit-min 45 --widths 24 48 96 --region-widths 24 48 96 --pool lse --region-pool lse --regions forehead --out runs/scr_autism
	rm -rf weights/face_screening/autism; cp -r runs/scr_autism weights/face_screening/autism
	# Grad-CAM stage per member, chosen on validation phantoms (the weights are not touched).
	for t in skin syndrome; do $(PYTHON) -m train.cam_select --weights weights/face_screening/$$t --task $$t --n 400 --stages -1 -2 -3 --threads 2; done
	$(PYTHON) -m train.cam_select --weights weights/face_screening/autism --task autism --n 400 --stages -1 -2 -3 --threads 2
	# The bundled galleries embedded ahead by the new weights (the screening page's first visit).
	$(PYTHON) -m train.gallery_index
