"""The annotations API (DRF): projects, members, pairs, imports, media and the annotator queue.

`serializers` validate requests and shape responses; `views` check access first, then call the same
selectors and services as the pages. URLs are in `annotations.api_urls`.
"""
