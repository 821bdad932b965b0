"""Cohorts: harmonize and quantify many studies on long-lived workers (Ray), with one table out."""
