"""How rows look on the wire, one module per resource (named as its views): the reference's
camelCase shapes.
"""
