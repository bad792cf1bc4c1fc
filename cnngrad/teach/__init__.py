"""The teaching services, on a finished :class:`~cnngrad.network.Trace`: ``explain`` (one
number taken apart), ``steps`` (the textbook's intermediate matrices), ``gradcheck`` (finite
differences and kinks), ``check`` and ``diagnose`` (a hand computation graded, its slips
named), ``grading`` (the problem's ``grading`` block) and ``carry_forward`` (errors carried
forward, re-run through the families' steps).  Each asks the layer registry (:mod:`cnngrad.families`) for what a layer type adds."""
