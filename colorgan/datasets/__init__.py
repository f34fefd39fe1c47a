"""Builders of training data from sources this machine can reach offline."""
