"""Intervention cycles, groups, rosters and attendance arrive with issue [3]."""
