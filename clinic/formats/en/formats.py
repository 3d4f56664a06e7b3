"""The one way dates, times and numbers are written across the clinic admin
(FORMAT_MODULE_PATH in settings points here): "4 Dec 2026", "4 Dec 2026,
14:05", "2,867". Templates use these names (`|date:"DATE_FORMAT"`), never a
pattern of their own. Input formats stay Django's (YYYY-MM-DD first)."""

DATE_FORMAT = "j M Y"
DATETIME_FORMAT = "j M Y, H:i"
TIME_FORMAT = "H:i"
SHORT_DATE_FORMAT = "j M Y"
SHORT_DATETIME_FORMAT = "j M Y, H:i"
MONTH_DAY_FORMAT = "j M"
YEAR_MONTH_FORMAT = "M Y"
DECIMAL_SEPARATOR = "."
THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
