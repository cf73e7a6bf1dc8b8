"""The paper's experiments (shape matching, Figure 2; timing, Table 1; semi-supervised, Table 3), run by the
``ppm-array`` command.

These modules need the ``cli`` extra (giotto-ph, gudhi, POT, matplotlib, tqdm); the
semi-supervised experiment also needs torch and scikit-learn (the ``experiments`` extra). The
choices below are here, away from those imports, so that ``ppm-array --help`` is quick.
"""

SHAPES = ("circle", "two-circles", "boxplus", "sphere")
LOSSES = ("cramer", "mmd")
CRAMER_ESTIMATORS = ("paired", "halves")
METRICS = ("paper", "published", "w2-sum")
SSL_PROTOCOLS = ("ours", "published")  # how the semi-supervised experiment judges a frozen discriminator
