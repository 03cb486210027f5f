"""Standards frameworks: the 1EdTech CASE 1.0 import (reader and validator, fetcher, import
service), the selectors that keep frameworks to the schools that may see them, and their pages."""
