"""The HTTP front doors. Handlers are thin: parse, authorize (centrally), call one use
case, render. Must not touch SQL or blob storage directly."""
