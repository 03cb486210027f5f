"""Progress reports and the family and student portals arrive with issue [4]."""
