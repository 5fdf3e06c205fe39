"""Module entry for distributed runs: `torchrun --nproc-per-node N -m trainer.ddp_entry --phase1 ... --out OUT`.

Takes exactly the flags of `envhub train`. Every rank trains; only rank 0 writes.
"""

from __future__ import annotations

import sys

from trainer.cli import main

if __name__ == "__main__":
    sys.exit(main())
