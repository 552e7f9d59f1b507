schema: '1.2'
contents:
  - a.fga
