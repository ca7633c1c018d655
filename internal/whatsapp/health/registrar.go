package health

// Registrar registers numbers with Meta exactly when it can succeed (being filled in).
type Registrar struct{}
