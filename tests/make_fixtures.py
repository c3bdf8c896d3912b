"""Regenerate every PyTorch fixture: /usr/bin/python3 tests/make_fixtures.py

Runs each tests/fixtures_*.py in turn; they write tests/fixtures/*.safetensors."""
import glob
import os
import runpy
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
for script in sorted(glob.glob(os.path.join(here, "fixtures_*.py"))):
    print(f"== {os.path.basename(script)}")
    runpy.run_path(script, run_name="__main__")
