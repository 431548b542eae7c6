"""The foundation every other package builds on: errors, the timebase, media in and out, the
prepared-clip format and its writer, atomic files and CLI helpers. Imports nothing of the
project's other packages."""
