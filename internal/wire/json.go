package wire

import "unicode/utf8"

// ToJSON converts a delivery to its JSON form.
func ToJSON(d *Delivery) JSONDelivery {
	j := JSONDelivery{
		Queue:         d.Queue,
		ID:            d.ID,
		CorrelationID: d.CorrelationID,
		ReplyTo:       d.ReplyTo,
		Status:        d.Status,
		Redelivered:   d.Redelivered(),
		DeliveryCount: d.DeliveryCount,
		Origin:        d.Origin,
		EnqueuedAt:    d.EnqueuedAt,
		Topic:         d.Topic,
	}
	if utf8.Valid(d.Payload) {
		s := string(d.Payload)
		j.Payload = &s
	} else {
		j.PayloadBase64 = d.Payload
		if j.PayloadBase64 == nil {
			j.PayloadBase64 = []byte{}
		}
	}
	return j
}

// FromJSON converts the JSON form back to a delivery.
func FromJSON(j *JSONDelivery) Delivery {
	d := Delivery{
		Queue:         j.Queue,
		ID:            j.ID,
		DeliveryCount: j.DeliveryCount,
		Origin:        j.Origin,
		EnqueuedAt:    j.EnqueuedAt,
		Topic:         j.Topic,
		Message: Message{
			CorrelationID: j.CorrelationID,
			ReplyTo:       j.ReplyTo,
			Status:        j.Status,
		},
	}
	if j.Payload != nil {
		d.Payload = []byte(*j.Payload)
	} else {
		d.Payload = j.PayloadBase64
	}
	if d.Payload == nil {
		d.Payload = []byte{}
	}
	return d
}
