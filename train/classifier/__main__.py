"""``python -m train.classifier``."""
from train.classifier.run import main

raise SystemExit(main())
