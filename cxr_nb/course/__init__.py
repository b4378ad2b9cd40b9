"""The course layer: the course map, exercises whose checks say right or wrong and why, and `cxr-nb course`."""
from cxr_nb.course.exercises import check

__all__ = ["check"]
