"""Pictures of a trained run: what the network learned and how it trained.

One small module per figure; `workdir.visualize` draws them all for a run
directory (see experiments/visualize.py).

  canvas.py        matplotlib (Agg) figures -> RGB arrays -> PNG files.
  probe.py         one forward pass that records every conv/dense layer and
                   every conv/pool stage's output, for any model in the zoo.
  filters.py       the first conv layer's kernels as a grid of images.
  feature_maps.py  the conv/pool stages' responses to one input image.
  confusion.py     test-split predictions, confusion matrix, per-class P/R/F1.
  curves.py        training and evaluation loss and accuracy against the step.
  weights.py       a first dense layer's weights reshaped as images (logistic
                   regression: one per class; MLP: a grid of hidden units).
  workdir.py       restores a run and writes all of the above to RUN/figures/
                   and RUN/tensorboard/.
"""
