"""Every kind of run, on one skeleton: instruct (+ modes), labeled, auto-label, re-filter; students."""
