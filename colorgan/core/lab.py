"""CIE Lab in sRGB terms, the numbers only (no torch): kornia's D65 white, sRGB primaries
and Lab's piecewise cube law, as colorgan.core.color (kornia) uses them, and the network's
scaling of L and ab. colorgan.core.fastcolor and colorgan.core.gamut compute with them.
"""

from __future__ import annotations

import numpy as np

L_MAX = 100.0
AB_SCALE = 110.0  # network ab in [-1, 1] <-> Lab a, b (the sRGB gamut fits inside +-110)

WHITE_X, WHITE_Z = 0.95047, 1.08883
RGB_TO_XYZ = np.array(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ]
)
RGB_TO_Y = tuple(RGB_TO_XYZ[1])
XYZ_TO_RGB = np.array(
    [
        [3.2404813432005266, -1.5371515162713185, -0.4985363261688878],
        [-0.9692549499965682, 1.8759900014898907, 0.0415559265582928],
        [0.0556466391351772, -0.2040413383665112, 1.0573110696453443],
    ]
)
RGB_FROM_FXYZ = (XYZ_TO_RGB * [WHITE_X, 1.0, WHITE_Z]).astype(np.float32)  # white folded in
F_KNEE = 0.2068966  # f above which X/Xn = f**3, below it is linear (Lab -> XYZ)
Y_KNEE = 0.008856  # the same knee on the Y side (XYZ -> Lab)
LIN_SLOPE = 7.787
F_OFFSET = 4.0 / 29.0
