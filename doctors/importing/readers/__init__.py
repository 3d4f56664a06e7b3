"""Reading import files other than CSV: Excel (.xlsx), OpenDocument (.ods), JSON.

detect (which format a file is), limits (what a file may hold), archive (zip
members read within those limits), xml_stream (one XML part parsed as a
stream, counted as it is read, refusing a DOCTYPE), cells (a cell's value as
the text a person sees), xlsx and ods (a workbook's sheet as rows), json_rows
(a JSON list of objects as rows), table (what the reading process hands back),
sandbox (the reading process, with its memory and CPU limits), sources (the
source objects the importer reads rows from) and estimate (how many rows an
upload holds, cheaply).

Modules here import neither Django nor the models, except sources, so that the
reading process starts small and quickly.
"""
