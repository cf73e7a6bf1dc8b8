"""The paper's experiments (shape matching, Figure 2; timing, Table 1), run by the ``ppm-array`` command.

These modules need the ``cli`` extra (giotto-ph, gudhi, POT, matplotlib, tqdm).
"""
