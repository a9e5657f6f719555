"""`python -m disvae.objectives`: the registered objectives' names, one per line (read by
the batch scripts of bin/)."""
import sys

from disvae.objectives import ObjectiveError, registered

try:
    print("\n".join(registered()))
except ObjectiveError as error:
    sys.exit(f"error: {error}")
