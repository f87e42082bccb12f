"""Test and benchmark helpers shipped with annotator (a local GEO server); nothing here runs in a night."""
